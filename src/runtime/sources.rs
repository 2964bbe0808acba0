//! The event loop's fd sources: one token type names every registration,
//! so adding a source (the per-unit log pipes, say) is one more variant
//! and one more handler, not new token arithmetic.

use crate::control::server::ConnId;
use crate::logs::record::Stream;

/// What an epoll registration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// The signalfd.
    Signals,
    /// The timerfd armed for the next deadline.
    Timer,
    /// The sd_notify datagram socket.
    Notify,
    /// The control socket's listener.
    Listener,
    /// One control connection.
    Client(ConnId),
    /// The pidfd of a unit's main process that is not vigil's child:
    /// readable once it exits.
    Process(i32),
    /// vigil's own stderr, watched for writability while its lines wait
    /// for a slow console.
    LogOutput,
    /// The read end of a unit's log pipe (`runtime::capture`).
    LogPipe { slot: u32, stream: Stream },
}

const TAG_SHIFT: u32 = 56;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;

impl Token {
    /// The epoll data word: a tag in the top byte, the payload below.
    pub fn encode(self) -> u64 {
        let (tag, payload): (u64, u64) = match self {
            Token::Signals => (1, 0),
            Token::Timer => (2, 0),
            Token::Notify => (3, 0),
            Token::Listener => (4, 0),
            Token::Client(conn) => (5, conn.0 & PAYLOAD),
            Token::Process(pid) => (6, u64::from(pid.unsigned_abs())),
            Token::LogOutput => (7, 0),
            Token::LogPipe { slot, stream } => {
                (8, (u64::from(slot) << 1) | u64::from(stream == Stream::Err))
            }
        };
        (tag << TAG_SHIFT) | payload
    }

    /// The token an epoll data word stands for.
    pub fn decode(word: u64) -> Option<Token> {
        let payload = word & PAYLOAD;
        match word >> TAG_SHIFT {
            1 => Some(Token::Signals),
            2 => Some(Token::Timer),
            3 => Some(Token::Notify),
            4 => Some(Token::Listener),
            5 => Some(Token::Client(ConnId(payload))),
            6 => i32::try_from(payload).ok().map(Token::Process),
            7 => Some(Token::LogOutput),
            8 => Some(Token::LogPipe {
                slot: u32::try_from(payload >> 1).ok()?,
                stream: if payload & 1 == 1 {
                    Stream::Err
                } else {
                    Stream::Out
                },
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for t in [
            Token::Signals,
            Token::Timer,
            Token::Notify,
            Token::Listener,
            Token::Client(ConnId(7)),
            Token::Client(ConnId(u64::from(u32::MAX) + 5)),
            Token::Process(4_194_304),
            Token::LogOutput,
            Token::LogPipe {
                slot: 0,
                stream: Stream::Out,
            },
            Token::LogPipe {
                slot: u32::MAX,
                stream: Stream::Err,
            },
        ] {
            assert_eq!(Token::decode(t.encode()), Some(t));
        }
        assert_eq!(Token::decode(0), None);
    }
}

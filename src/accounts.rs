//! Users and groups from /etc/passwd and /etc/group, read by vigil itself.
//!
//! vigil does not call getpwnam(3) and friends. They go through NSS, which
//! may load modules (systemd, sss, ldap) that can block on a daemon or the
//! network, and PID 1 must never wait on those; and vigil is linked
//! statically, where glibc's NSS modules cannot be loaded safely at all.
//! Users and groups that live only in another database can still be named
//! by number (`user = "1000"`).

use std::io;
use std::path::{Path, PathBuf};

/// The user database vigil reads.
pub const PASSWD: &str = "/etc/passwd";
/// The group database vigil reads.
pub const GROUP: &str = "/etc/group";

/// One entry of /etc/passwd: what a service needs to run as that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub shell: PathBuf,
}

/// One entry of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The name of a passwd or group line, its number (uid or gid) and the
/// fields after it; `None` for comments, NIS `+`/`-` entries and lines
/// without a numeric id.
fn split_entry(line: &str) -> Option<(&str, u32, std::str::Split<'_, char>)> {
    let mut f = line.split(':');
    let name = f
        .next()
        .filter(|n| !n.is_empty() && !n.starts_with(['#', '+', '-']))?;
    let _password = f.next()?;
    let id = f.next()?.parse().ok()?;
    Some((name, id, f))
}

/// Parses one passwd line (`name:pw:uid:gid:gecos:home:shell`); `None` for
/// comments, NIS `+`/`-` entries and malformed lines.
pub fn parse_user(line: &str) -> Option<User> {
    let (name, uid, mut f) = split_entry(line)?;
    let gid = f.next()?.parse().ok()?;
    let _gecos = f.next()?;
    let home = f.next()?;
    let shell = f.next().unwrap_or("");
    Some(User {
        name: name.to_string(),
        uid,
        gid,
        home: PathBuf::from(home),
        shell: PathBuf::from(shell),
    })
}

/// Parses one group line (`name:pw:gid:member,member`).
pub fn parse_group(line: &str) -> Option<Group> {
    let (name, gid, mut f) = split_entry(line)?;
    let members = f
        .next()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect();
    Some(Group {
        name: name.to_string(),
        gid,
        members,
    })
}

/// The user named `key`, or with uid `key` when it is a number (first match).
pub fn find_user(text: &str, key: &str) -> Option<User> {
    let uid: Option<u32> = key.parse().ok();
    text.lines()
        .filter_map(parse_user)
        .find(|u| Some(u.uid) == uid || u.name == key)
}

/// The group named `key`, or with gid `key` when it is a number.
pub fn find_group(text: &str, key: &str) -> Option<Group> {
    let gid: Option<u32> = key.parse().ok();
    text.lines()
        .filter_map(parse_group)
        .find(|g| Some(g.gid) == gid || g.name == key)
}

/// What initgroups(3) would set: `primary`, then every group that lists
/// `user` as a member, each once.
pub fn groups_of(text: &str, user: &str, primary: u32) -> Vec<u32> {
    let mut list = vec![primary];
    for g in text.lines().filter_map(parse_group) {
        if g.members.iter().any(|m| m == user) && !list.contains(&g.gid) {
            list.push(g.gid);
        }
    }
    list
}

fn read(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))
}

/// Looks `key` (a name or a uid) up in /etc/passwd. A uid that has no entry
/// is still a user: it runs with gid = uid's own number as its group.
pub fn lookup_user(key: &str) -> io::Result<Option<User>> {
    let found = find_user(&read(Path::new(PASSWD))?, key);
    Ok(found.or_else(|| {
        key.parse().ok().map(|uid| User {
            name: key.to_string(),
            uid,
            gid: uid,
            home: PathBuf::from("/"),
            shell: PathBuf::from("/bin/sh"),
        })
    }))
}

/// Looks `key` (a name or a gid) up in /etc/group; a bare gid is accepted
/// as it is.
pub fn lookup_group(key: &str) -> io::Result<Option<u32>> {
    if let Ok(gid) = key.parse::<u32>() {
        return Ok(Some(gid));
    }
    Ok(find_group(&read(Path::new(GROUP))?, key).map(|g| g.gid))
}

/// The supplementary groups of `user` from /etc/group, `primary` first.
pub fn lookup_groups_of(user: &str, primary: u32) -> io::Result<Vec<u32>> {
    Ok(groups_of(&read(Path::new(GROUP))?, user, primary))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
+nisuser::::::
broken:x:notanumber:1::/:/bin/sh
web:x:1000:1000:Web,,,:/srv/web:/bin/sh
";
    const GROUP_TEXT: &str = "\
root:x:0:
adm:x:4:syslog,web
nogroup:x:65534:
web:x:1000:
www:x:33: web , other
";

    #[test]
    fn users_by_name_and_by_uid() {
        let web = find_user(PASSWD_TEXT, "web").expect("web");
        assert_eq!((web.uid, web.gid), (1000, 1000));
        assert_eq!(web.home, PathBuf::from("/srv/web"));
        assert_eq!(web.shell, PathBuf::from("/bin/sh"));
        assert_eq!(
            find_user(PASSWD_TEXT, "65534").map(|u| u.name),
            Some("nobody".into())
        );
        assert_eq!(find_user(PASSWD_TEXT, "ghost"), None);
        assert_eq!(find_user(PASSWD_TEXT, "broken"), None);
        assert_eq!(find_user(PASSWD_TEXT, "+nisuser"), None);
        assert_eq!(find_user(PASSWD_TEXT, "# a comment"), None);
    }

    #[test]
    fn groups_by_name_and_membership() {
        assert_eq!(find_group(GROUP_TEXT, "adm").map(|g| g.gid), Some(4));
        assert_eq!(
            find_group(GROUP_TEXT, "33").map(|g| g.name),
            Some("www".into())
        );
        assert_eq!(find_group(GROUP_TEXT, "ghost"), None);
        assert_eq!(groups_of(GROUP_TEXT, "web", 1000), vec![1000, 4, 33]);
        assert_eq!(groups_of(GROUP_TEXT, "syslog", 4), vec![4]);
        assert_eq!(groups_of(GROUP_TEXT, "nobody", 65534), vec![65534]);
    }

    #[test]
    fn this_machine_has_root() {
        let root = lookup_user("root").expect("readable").expect("root exists");
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(lookup_group("root").expect("readable"), Some(0));
        assert_eq!(lookup_group("4242").expect("readable"), Some(4242));
        let numeric = lookup_user("4242").expect("readable").expect("numeric");
        assert_eq!((numeric.uid, numeric.gid), (4242, 4242));
        assert_eq!(lookup_user("no-such-user-here").expect("readable"), None);
    }
}

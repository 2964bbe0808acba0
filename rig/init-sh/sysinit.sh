#!/bin/sh
# A plain shell-script init that does a test system's early boot the obvious way.
# Two jobs: prove the rig's pieces (modules, udevd, fstab, swap, agetty on ttyS1)
# independently of vigil, and be the baseline of rig/bench-boot.sh.
# Reads /etc/rig/modules (names, one a line), starts udev when /etc/rig/udev says 1,
# runs every /etc/rig/services/* in the background, then /etc/rig/up (if any) in the
# foreground, and keeps an agetty on ttyS1 when /etc/rig/getty exists.
# SIGUSR2/SIGTERM (busybox poweroff) power the guest off; SIGINT reboots.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
t0=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)
mount -t proc proc /proc
t0=$(cut -d' ' -f1 /proc/uptime)
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
mount -t tmpfs -o mode=755 run /run
exec </dev/console >/dev/console 2>&1
echo "sh-init: started at uptime $t0"
if [ -f /etc/rig/modules ]; then
  for m in $(grep -v '^#' /etc/rig/modules); do
    modprobe "$m" || echo "sh-init: module $m: failed"
  done
fi
[ -f /etc/hostname ] && hostname -F /etc/hostname
if [ "${RIG_UDEV:-$(cat /etc/rig/udev 2>/dev/null)}" = 1 ]; then
  /usr/lib/systemd/systemd-udevd --daemon
  udevadm trigger --action=add
  udevadm settle --timeout=10 && echo "sh-init: udev coldplug done"
fi
[ -f /etc/fstab ] && { mount -a || echo "sh-init: mount -a: some entries failed"; }
swapon -a 2>/dev/null
poweroff_now() { echo "sh-init: powering off"; sync; umount -a -r 2>/dev/null; poweroff -f; }
trap poweroff_now USR2 TERM
trap 'reboot -f' INT
for s in /etc/rig/services/*; do
  [ -x "$s" ] && "$s" &
done
[ -x /etc/rig/up ] && /etc/rig/up
if [ -f /etc/rig/getty ] && [ -e /dev/ttyS1 ]; then
  ( while :; do setsid /sbin/agetty -L 115200 ttyS1 vt100; sleep 1; done ) &
fi
echo "sh-init: up at uptime $(cut -d' ' -f1 /proc/uptime)"
while :; do wait; sleep 1; done

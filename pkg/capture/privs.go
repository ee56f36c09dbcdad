package capture

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// DropPrivileges switches the whole process to the named user, as tcpdump
// -Z does, once the capture socket is open: a parser bug in a sensor that
// reads hostile packets then runs as nobody, not as root. It does nothing
// when not running as root or when name is "" or "root".
func DropPrivileges(name string) error {
	if os.Geteuid() != 0 || name == "" || name == "root" {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("drop privileges: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("drop privileges: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("drop privileges: gid %q: %w", u.Gid, err)
	}
	// Order matters: groups and gid while still root, uid last.
	if err := syscall.Setgroups([]int{}); err != nil {
		return fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("drop privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("drop privileges: setuid %d: %w", uid, err)
	}
	if os.Geteuid() == 0 {
		return fmt.Errorf("drop privileges: still root after setuid(%d)", uid)
	}
	return nil
}

package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f inside network namespace ns (one made by New or NewDelayed):
// sockets and devices f opens belong to that namespace and stay there after
// Do returns. f runs on a goroutine of its own, locked to an OS thread that
// is never unlocked, so the runtime retires the thread instead of handing a
// thread in the wrong namespace to other goroutines. f must not start
// goroutines that open sockets: only its own thread is switched.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

//go:build unix

package cli

import "syscall"

// raiseNoFile raises the open file limit to at least want (the hard limit
// too, which only root may), and returns the soft limit it got: `bench
// --idle` holds one descriptor per connection.
func raiseNoFile(want uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, err
	}
	if l.Cur >= want {
		return l.Cur, nil
	}
	n := l
	n.Cur = want
	if n.Max < want {
		n.Max = want
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n); err != nil {
		// Not root: as far as the hard limit goes.
		n = l
		n.Cur = l.Max
		err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &n)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
		return l.Cur, err
	}
	return want, nil
}

//go:build unix

package broker

import "syscall"

// sysRead is read(2) on a socket the runtime keeps non-blocking.
func sysRead(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

//go:build !linux

package bench

import (
	"errors"
	"net"
)

// stampedReader: receive timestamps are read on Linux only (stamp_linux.go).
type stampedReader struct{ last int64 }

func newStampedReader(net.Conn) *stampedReader { return nil }

func (*stampedReader) Read([]byte) (int, error) { return 0, errors.ErrUnsupported }

func waitStamps() bool { return false }

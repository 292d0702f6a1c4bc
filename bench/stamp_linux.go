package bench

import (
	"encoding/binary"
	"io"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stampedReader reads a TCP connection with recvmsg and keeps the
// kernel's receive timestamp (SO_TIMESTAMPNS) of the last segment each
// read consumed: when the bytes reached this host's socket, however long
// this process then took to read them. The generator reads 100
// subscribers on one processor, one after another: a delivery that
// reached its socket together with 99 others waits for their reads
// (issue 17), a wait that 100 independent devices would not have.
type stampedReader struct {
	rc   syscall.RawConn
	oob  []byte
	last int64 // Unix ns (CLOCK_REALTIME) of the last segment read; 0: unknown
}

// newStampedReader returns nil when nc is not a TCP connection or the
// kernel refuses the option, and on 32-bit systems (whose SCM_TIMESTAMPNS
// carries a 32-bit time).
func newStampedReader(nc net.Conn) *stampedReader {
	tc, ok := nc.(*net.TCPConn)
	if !ok || unix.SizeofPtr != 8 {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	return &stampedReader{rc: rc, oob: make([]byte, unix.CmsgSpace(16))}
}

// Read is one recvmsg, waiting in the runtime's poller as net.Conn's Read
// does; it sets s.last.
func (s *stampedReader) Read(p []byte) (int, error) {
	var n, oobn int
	var rerr error
	if err := s.rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, s.oob, 0)
		return rerr != unix.EAGAIN
	}); err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 {
		return 0, io.EOF
	}
	s.last = 0
	// One control message, SCM_TIMESTAMPNS: a struct timespec.
	if oobn >= unix.CmsgLen(16) {
		level := int32(binary.NativeEndian.Uint32(s.oob[8:])) // struct cmsghdr: len (8 bytes), level, type
		typ := int32(binary.NativeEndian.Uint32(s.oob[12:]))
		if level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS {
			d := s.oob[unix.CmsgLen(0):]
			s.last = int64(binary.NativeEndian.Uint64(d))*1e9 + int64(binary.NativeEndian.Uint64(d[8:]))
		}
	}
	return n, nil
}

// waitStamps returns when the kernel timestamps received segments, or
// false after 2 s: it turns timestamps on a moment after the first socket
// asks (a deferred switch, also after the last socket that asked closed),
// and the segments that arrive meanwhile carry none. The subscribers
// asked already; a probe connection tries until its byte comes stamped.
func waitStamps() bool {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return false
	}
	defer ln.Close()
	out, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return false
	}
	defer out.Close()
	in, err := ln.Accept()
	if err != nil {
		return false
	}
	defer in.Close()
	s := newStampedReader(in)
	if s == nil {
		return false
	}
	b := []byte{0}
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		if _, err := out.Write(b); err != nil {
			return false
		}
		if _, err := s.Read(b); err != nil {
			return false
		}
		if s.last != 0 {
			return true
		}
		time.Sleep(time.Millisecond) // the switch is a kernel work item: let it run
	}
	return false
}

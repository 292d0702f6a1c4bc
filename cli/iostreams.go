package cli

import (
	"bytes"
	"io"
	"os"
)

// IOStreams is where commands read and write; nothing below cmd/ touches
// os.Stdout directly, so tests can capture output with [TestIOStreams].
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// IsTerminal reports whether Out is a terminal; pretty output is chosen
	// only then.
	IsTerminal bool
}

// SystemIOStreams returns the process's standard streams.
func SystemIOStreams() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, IsTerminal: isTerminal(os.Stdout)}
}

// TestIOStreams returns streams backed by buffers: in is read by commands,
// out and errOut collect what they write.
func TestIOStreams() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = new(bytes.Buffer), new(bytes.Buffer), new(bytes.Buffer)
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

package conn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mqttboard/mqttboard/client"
	"github.com/mqttboard/mqttboard/packet"
)

// retainedTimeout bounds the wait for the end of the retained messages.
const retainedTimeout = 5 * time.Second

// RetainedFound is the answer to FindRetained: the retained messages the
// broker holds under a topic tree node.
type RetainedFound struct {
	Path     string   // the node
	Topics   []string // sorted
	Complete bool     // false: the broker did not confirm the end of the list
	Err      error
}

// RetainedFilter is the filter for everything at and under a node path.
func RetainedFilter(path string) string {
	if path == "" {
		return "#"
	}
	return path + "/#"
}

// FindRetained asks the broker which retained messages it holds under the
// node at path, on a short-lived connection of its own with this
// connection's settings, so the count a deletion asks to confirm is the
// broker's, not what the board happened to see. It returns nil when the
// connection is not up (the caller falls back to what the board saw).
func (c *Conn) FindRetained(path string) tea.Cmd {
	if c.cl == nil || c.Status != Connected {
		return nil
	}
	opts, err := Options(c.Profile)
	if err != nil {
		return func() tea.Msg { return c.msg(RetainedFound{Path: path, Err: err}) }
	}
	// A throwaway session: its own client id, nothing kept, no will.
	opts.ClientID, opts.Persistent, opts.SessionExpiry, opts.Will, opts.Reconnect = "", false, nil, nil, false
	if opts.Version == packet.V31 { // 3.1 needs a client id of at most 23 characters
		var b [6]byte
		rand.Read(b[:])
		opts.ClientID = "mqttboard-" + hex.EncodeToString(b[:])
	}
	var b [8]byte
	rand.Read(b[:])
	probe := "mqttboard/probe/" + hex.EncodeToString(b[:])
	c.addProbe(probe)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		cl, err := client.New(opts)
		if err == nil {
			_, err = cl.Connect(ctx)
		}
		if err != nil {
			return c.msg(RetainedFound{Path: path, Err: err})
		}
		defer cl.Close()
		found, complete, err := cl.CollectRetained(ctx, RetainedFilter(path), probe, retainedTimeout)
		topics := make([]string, len(found))
		for i, m := range found {
			topics[i] = m.Topic
		}
		return c.msg(RetainedFound{Path: path, Topics: topics, Complete: complete, Err: err})
	}
}

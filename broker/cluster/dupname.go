package cluster

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// A node name is unique in the cluster (docs/cluster.md, "Node names").
// NATS refuses a route from a node named like the accepting one, but it
// tells the refused side nothing: a node started with a name a live member
// already has would serve alone, or (joined through another member) in a
// mesh with a hole where the member is. So [Open] checks before the node
// serves, in two steps:
//
//   - before its NATS server starts, it connects to each --cluster-peer
//     and reads the INFO line every NATS route port sends first: it names
//     the server there;
//   - once its routes formed, it asks each member it reached whether one
//     of that member's routes is a live node with this name ("c.name.<peer>";
//     the member pings it on "c.ping.<name>", which only the other node can
//     answer: this one subscribes nothing before it joins).
//
// A duplicate fails Open with a [DuplicateNameError]; the member keeps
// serving. Two nodes with one name started at the same instant can both
// pass (neither is a member yet): NATS then refuses their routes to each
// other, and each warns as before (watchJoin).

const (
	// probeTimeout bounds connecting to one peer and reading its INFO.
	probeTimeout = 2 * time.Second
	// nameRoutesWait bounds how long Open waits for routes to the peers
	// that answered the probe before it asks them about the name: a route
	// forms in milliseconds on a network that works.
	nameRoutesWait = 5 * time.Second
	// nameAskTimeout bounds one member's answer (it pings the node it
	// suspects for up to half of it).
	nameAskTimeout = 2 * time.Second
)

// DuplicateNameError is [Open]'s error for a node name that a live
// member of the cluster already has.
type DuplicateNameError struct {
	Name string
	// Peer is the --cluster-peer address whose node has the name, or the
	// member that reported another node with the name (Via names it).
	Peer string
	Via  string
}

func (e *DuplicateNameError) Error() string {
	where := "the node at " + e.Peer + " (a --cluster-peer) is already named " + quote(e.Name)
	if e.Via != "" {
		where = "member " + quote(e.Via) + " (reached through " + e.Peer + ") has a live route to another node already named " + quote(e.Name)
	}
	return fmt.Sprintf("cluster: node name %q is taken: %s; the existing node keeps serving and this one did not join. Give this node its own --node-name (node_name in the config), or stop the other node first if this one is meant to replace it", e.Name, where)
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// probePeers reads the server name at each peer's route port, before
// this node's own NATS server starts (so a node that lists its own
// address among its peers finds nothing there). A peer that is down or
// does not speak NATS is skipped: it is retried as a route later. It
// returns the peers that answered.
func probePeers(cfg Config) ([]string, error) {
	type answer struct {
		peer, name string
	}
	var wg sync.WaitGroup
	out := make([]answer, len(cfg.Peers))
	for i, p := range cfg.Peers {
		wg.Go(func() {
			name, err := routeServerName(p)
			if err == nil {
				out[i] = answer{p, name}
			}
		})
	}
	wg.Wait()
	var up []string
	for _, a := range out {
		if a.peer == "" {
			continue
		}
		if a.name == cfg.NodeName {
			return nil, &DuplicateNameError{Name: cfg.NodeName, Peer: a.peer}
		}
		up = append(up, a.peer)
	}
	return up, nil
}

// routeServerName connects to a NATS route port and returns the
// server_name of the INFO it sends first.
func routeServerName(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(probeTimeout))
	line, err := bufio.NewReaderSize(io.LimitReader(c, 64<<10), 64<<10).ReadSlice('\n')
	if err != nil {
		return "", err
	}
	return parseRouteInfo(line)
}

// parseRouteInfo returns the server_name of a NATS INFO line ("INFO
// {json}\r\n"), as a peer's route port sends it.
func parseRouteInfo(line []byte) (string, error) {
	rest, ok := strings.CutPrefix(string(line), "INFO ")
	if !ok {
		return "", errors.New("no NATS INFO")
	}
	var info struct {
		Name string `json:"server_name"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &info); err != nil {
		return "", err
	}
	return info.Name, nil
}

// nameQuery is a "c.name" request: a joining node's name and its NATS
// server id (its own routes to the member carry that id).
type nameQuery struct {
	Name string `json:"n"`
	ID   string `json:"id"`
}

// checkName asks the members this node reached whether a live node other
// than this one has its name (second step above). up are the peers that
// answered the probe: Open waits for a route to as many members.
func (n *Node) checkName(up []string) error {
	if len(up) == 0 {
		return nil
	}
	deadline := time.Now().Add(nameRoutesWait)
	for len(n.peers()) < len(up) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // routes have no event to wait on
	}
	q, _ := json.Marshal(nameQuery{Name: n.cfg.NodeName, ID: n.ns.ID()})
	for _, p := range n.peers() {
		if p == n.cfg.NodeName {
			continue // NATS refused that one; the probe named it if it was a --cluster-peer
		}
		var r *nats.Msg
		var err error
		// "No responders" until the member's subscription crossed the
		// new route: ask again, within the bound.
		for try := time.Now(); ; {
			r, err = n.nc.Request("c.name."+p, q, nameAskTimeout)
			if !errors.Is(err, nats.ErrNoResponders) || time.Since(try) > nameAskTimeout {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			n.log.Debug("cluster: a member did not answer the node name check", "peer", p, "err", err)
			continue
		}
		var a struct {
			Taken bool `json:"taken"`
		}
		if json.Unmarshal(r.Data, &a) == nil && a.Taken {
			addr := p
			if rz, err := n.ns.Routez(nil); err == nil {
				for _, ri := range rz.Routes {
					if ri.RemoteName == p {
						addr = net.JoinHostPort(ri.IP, fmt.Sprint(ri.Port))
						break
					}
				}
			}
			return &DuplicateNameError{Name: n.cfg.NodeName, Peer: addr, Via: p}
		}
	}
	return nil
}

// onName answers a joining node's "c.name" request: taken when one of this
// node's routes, not the asker's, goes to a node with that name that
// answers a ping (a route to a node that died without closing it would
// not).
func (n *Node) onName(m *nats.Msg) {
	var q nameQuery
	if json.Unmarshal(m.Data, &q) != nil || !nodeName.MatchString(q.Name) || m.Reply == "" {
		return
	}
	reply := m.Reply
	n.wg.Go(func() {
		taken := q.Name == n.cfg.NodeName
		if !taken {
			if rz, err := n.ns.Routez(nil); err == nil {
				other := slices.ContainsFunc(rz.Routes, func(r *server.RouteInfo) bool {
					return r.RemoteName == q.Name && r.RemoteID != q.ID
				})
				if other {
					_, err := n.nc.Request("c.ping."+q.Name, nil, nameAskTimeout/2)
					taken = err == nil
				}
			}
		}
		b, _ := json.Marshal(map[string]bool{"taken": taken})
		n.nc.Publish(reply, b)
	})
}

package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/cluster"
)

// localNode is one node of the bundled broker run as an in-process
// cluster (Options.BrokerNodes).
type localNode struct {
	srv    *broker.Server
	cl     *cluster.Node
	cancel context.CancelFunc
	done   chan struct{}
}

// brokerNodes returns the bundled broker's servers, for the broker pane:
// every node of a cluster, the one broker, or none.
func (m *Model) brokerNodes() []*broker.Server {
	if len(m.nodes) > 0 {
		out := make([]*broker.Server, len(m.nodes))
		for i, n := range m.nodes {
			out[i] = n.srv
		}
		return out
	}
	if m.broker != nil {
		return []*broker.Server{m.broker}
	}
	return nil
}

// startLocalCluster starts n brokers on free loopback ports, each a node
// ("n1", "n2", ...) of one cluster whose routes listen on loopback only,
// and returns the first node's URL; the set spreads local connections
// over all of them. It returns once every node has joined every other.
func (m *Model) startLocalCluster(n int) (string, error) {
	o := m.opts.BrokerOptions
	if o.Store != nil {
		return "", errors.New("a local cluster keeps its state in memory: --broker-data and --broker-nodes do not go together")
	}
	o.Listen = "127.0.0.1:0"
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler) // the cluster's default is stderr: the screen
	}
	var seed string
	var urls []string
	for i := range n {
		s := broker.New(o)
		if err := s.Listen(); err != nil {
			m.closeLocalCluster()
			return "", err
		}
		cfg := cluster.Config{NodeName: fmt.Sprint("n", i+1), Listen: "127.0.0.1:0", MaxPayload: s.Limits().MaxPayload, Logger: o.Logger}
		if seed != "" {
			cfg.Peers = []string{seed}
		}
		cl, err := cluster.Start(s, cfg)
		if err != nil {
			s.Close()
			m.closeLocalCluster()
			return "", err
		}
		if seed == "" {
			seed = cl.ClusterAddr().String()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Serve(ctx)
		}()
		m.nodes = append(m.nodes, &localNode{srv: s, cl: cl, cancel: cancel, done: done})
		urls = append(urls, "mqtt://"+s.Addr().String())
	}
	// Routes form in the background: wait (bounded) until each node sees
	// every other, so the first messages already cross.
	deadline := time.Now().Add(10 * time.Second)
	for _, nd := range m.nodes {
		for len(nd.cl.Members()) < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // NATS has no event for a route up; bounded by deadline
		}
	}
	m.broker = m.nodes[0].srv
	m.set.LocalNodes = urls
	return urls[0], nil
}

// closeLocalCluster stops every node: the brokers first (their last wills
// still cross), then the cluster nodes.
func (m *Model) closeLocalCluster() {
	var wg sync.WaitGroup
	for _, nd := range m.nodes {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			nd.srv.Shutdown(ctx)
			nd.cancel()
			<-nd.done
		})
	}
	wg.Wait()
	for _, nd := range m.nodes {
		nd.cl.Close()
	}
	m.nodes, m.broker = nil, nil
}

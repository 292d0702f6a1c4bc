package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/mqttboard/mqttboard/broker"
	"github.com/mqttboard/mqttboard/broker/cluster"
	"github.com/mqttboard/mqttboard/broker/storage"
)

// openClusterStore starts this node's NATS server with JetStream in dir
// (--data in a cluster) and returns the cluster's replicated store, once
// a majority of the nodes runs (it waits, telling the operator every 10 s,
// until ctx ends). The node is kept in o.node for joinCluster.
func (o *BrokerOptions) openClusterStore(ctx context.Context, dir string, fsync storage.FsyncMode) (storage.Store, error) {
	// The embedded NATS server reports a taken cluster port only after a
	// 10 s wait and without saying why: try the address first.
	l, err := net.Listen("tcp", o.ClusterListen)
	if err != nil {
		return nil, fmt.Errorf("--cluster-listen %s: %w (stop what holds it or choose another port)", o.ClusterListen, err)
	}
	l.Close()
	node, err := cluster.Open(cluster.Config{NodeName: o.nodeName(), Listen: o.ClusterListen, Peers: o.ClusterPeers,
		Secret: o.ClusterSecret, MaxPayload: o.maxPayload, Logger: o.logger, DataDir: dir, SyncAlways: fsync == storage.FsyncAlways})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.IO.ErrOut, "cluster node %s: waiting for a majority of the nodes to reach the replicated store in %s\n", node.Name(), dir)
	st, err := node.Store(ctx)
	if err != nil {
		node.Close()
		return nil, err
	}
	o.node = node
	return st, nil
}

// joinCluster joins s to the cluster: through the node openClusterStore
// opened, or a new node without a replicated store.
func (o *BrokerOptions) joinCluster(s *broker.Server, log *slog.Logger) (*cluster.Node, error) {
	var tokens cluster.Replica
	if o.registry != nil {
		tokens = o.registry // tokens and accounts shared by the nodes
	}
	if o.node != nil {
		o.node.SetTokens(tokens)
		return o.node, o.node.Join(s)
	}
	return cluster.Start(s, cluster.Config{NodeName: o.nodeName(), Listen: o.ClusterListen, Peers: o.ClusterPeers,
		Secret: o.ClusterSecret, MaxPayload: s.Limits().MaxPayload, Logger: log, Tokens: tokens})
}

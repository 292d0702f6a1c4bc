package cli

import (
	"context"
	"errors"
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
		return nil, clusterOpenError(err)
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

// openClusterNode starts this node's NATS server without a replicated
// store (no --data) and keeps it in o.node for joinCluster. It runs before
// the MQTT listeners bind, so a refused node (its name is taken) serves
// nobody.
func (o *BrokerOptions) openClusterNode(maxPayload int, log *slog.Logger) error {
	// The embedded NATS server reports a taken cluster port only after a
	// 10 s wait and without saying why: try the address first.
	l, err := net.Listen("tcp", o.ClusterListen)
	if err != nil {
		return fmt.Errorf("--cluster-listen %s: %w (stop what holds it or choose another port)", o.ClusterListen, err)
	}
	l.Close()
	node, err := cluster.Open(cluster.Config{NodeName: o.nodeName(), Listen: o.ClusterListen, Peers: o.ClusterPeers,
		Secret: o.ClusterSecret, MaxPayload: maxPayload, Logger: log})
	if err != nil {
		return clusterOpenError(err)
	}
	o.node = node
	return nil
}

// clusterOpenError names the flag to change for a node name the cluster
// already has.
func clusterOpenError(err error) error {
	var de *cluster.DuplicateNameError
	if errors.As(err, &de) {
		return fmt.Errorf("--node-name %s: %w", de.Name, err)
	}
	return err
}

// joinCluster joins s to the cluster through the node openClusterStore or
// openClusterNode opened.
func (o *BrokerOptions) joinCluster(s *broker.Server) (*cluster.Node, error) {
	var tokens cluster.Replica
	if o.registry != nil {
		tokens = o.registry // tokens and accounts shared by the nodes
	}
	o.node.SetTokens(tokens)
	if err := o.node.Join(s); err != nil {
		o.node.Close()
		return nil, err
	}
	return o.node, nil
}

package listeners

import "net"

// TCP listens for MQTT over plain TCP (port 1883 by convention).
func TCP(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

package broker

// SetHookBeforeRetained makes s call h with the subscriber's client id in
// every SUBSCRIBE between its SUBACK and its retained lookup.
func SetHookBeforeRetained(s *Server, h func(clientID string)) { s.hookBeforeRetained.Store(&h) }

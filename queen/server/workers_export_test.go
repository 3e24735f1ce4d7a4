package server

import "github.com/rbee-fleet/rbee/queen/workerregistry"

// Workers returns the server's worker registry, so a test can fill it
// with a large fleet, or change it, without an agent per hive.
func (s *Server) Workers() *workerregistry.Registry { return s.workers }

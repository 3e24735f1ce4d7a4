package server

import "context"

// MarkStale runs one pass of the stale check, as Run does on every tick, so
// a test with its own clock (Config.Now) decides when the check happens.
func (s *Server) MarkStale(ctx context.Context) { s.markStale(ctx) }

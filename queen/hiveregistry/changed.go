package hiveregistry

// Changed returns a channel that is closed at the next write to a node's
// row (add, update, status, tokens, install record, remove), whether or
// not it changed anything, so a reader such as the status page re-reads
// the nodes only after a write. Writes no one waits for cost nothing.
// Only writes through this Registry count: on a PostgreSQL store shared by
// several queens, another queen's writes do not close it.
func (r *Registry) Changed() <-chan struct{} {
	r.changeMu.Lock()
	defer r.changeMu.Unlock()
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

// wrote closes the channel Changed handed out, if any.
func (r *Registry) wrote() {
	r.changeMu.Lock()
	defer r.changeMu.Unlock()
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

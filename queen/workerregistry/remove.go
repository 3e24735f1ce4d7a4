package workerregistry

import "github.com/rbee-fleet/rbee/shared/api"

// Remove deletes the worker id of node and returns the removed record. An
// unknown id returns an error wrapping ErrNotFound, a worker of another
// node one wrapping ErrForbidden.
func (r *Registry) Remove(node, id string) (api.Worker, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, err := r.owned(node, id)
	if err != nil {
		return api.Worker{}, err
	}
	r.drop(e)
	r.notify()
	return cloneWorker(e.w), nil
}

// RemoveNode deletes every worker of node and returns how many there were.
// The queen calls it when the hive stops heartbeating.
func (r *Registry) RemoveNode(node string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.byNode[node])
	if n == 0 {
		return 0
	}
	for _, e := range r.byNode[node] {
		r.forget(e)
	}
	delete(r.byNode, node)
	r.notify()
	return n
}

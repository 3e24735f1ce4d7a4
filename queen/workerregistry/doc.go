// Package workerregistry is the queen's in-memory registry of workers: one
// record per worker id, owned by the node whose agent registered it.
//
// Agents change their own records as things happen (Register, Update,
// Remove) and send their whole worker list with every heartbeat
// (Reconcile), so after a queen restart the registry is whole again within
// one heartbeat interval. A record belongs to one node: another node may
// neither take its id nor change it. The queen drops a silent hive's
// workers with RemoveNode.
//
// Records go in and come out as copies; nothing a caller holds aliases the
// registry. The registry does not validate records: callers pass values that
// have passed [api.ValidateWorker] or [api.UpdateWorkerRequest.Validate].
//
// Reconcile is on the heartbeat hot path (every hive, every few seconds), so
// a snapshot equal to what is stored only refreshes the heartbeat times and
// allocates nothing.
package workerregistry

// Package workerregistry is the queen's in-memory registry of workers: one
// record per worker id, owned by the node whose agent registered it.
//
// Agents change their own records as things happen (Register, Update,
// Remove) and send their worker list with their heartbeats: the whole list
// when the queen asks for it (Reconcile), else what changed since the beat
// the queen acknowledged (ApplyDelta), so after a queen restart the
// registry is whole again within two heartbeat intervals. A record belongs to one node: another node may
// neither take its id nor change it. The queen drops a silent hive's
// workers with RemoveNode.
//
// Records go in and come out as copies; nothing a caller holds aliases the
// registry. All walks every record without copying the fleet first, for
// readers that keep only some fields (the gateway's routing table), and
// ChangesSince names the records changed since a version (a log of the
// last 65,536 changes, at most 1 MB), so such a reader follows the
// registry at the cost of what changed. The registry does not validate records: callers pass values that
// have passed [api.ValidateWorker] or [api.UpdateWorkerRequest.Validate].
//
// Reconcile is on the heartbeat hot path (every hive, every few seconds), so
// a snapshot equal to what is stored only refreshes the heartbeat times and
// allocates nothing.
//
// # Order, indexes and pages
//
// Workers are listed in one stable order, node then id, kept by ordered
// indexes (B-trees of github.com/google/btree): one of every worker, and
// one per model, per capability and per state, which a change of those
// fields moves the record between. Nothing is sorted per call. List and
// Page walk the smallest index a filter selects (a node filter walks that
// node's range of any index) and check the other fields on the way, so a
// filtered page costs what it returns. Page reads from a [Position], the
// key of the last worker of the page before: a walk under concurrent
// registrations and removals lists no worker twice and misses none that
// stayed registered (and matching) throughout.
//
// The indexes cost about 76 bytes per worker on top of about 297 for the
// record, its strings, the id map, the node lists and the change log (373
// in all, measured with BenchmarkRegistryMemory at 160,000 workers
// registered from decoded JSON; 451 before records shared their repeated
// strings and the node index became a list). Strings that repeat across the fleet
// (node, model, backend, state) are stored once (package unique), and a
// changed record keeps the id and URL strings it had. A new id goes into four
// trees (Register about 1.5 µs instead of 0.6) and a state change moves the
// record between two (Update about 0.5 µs instead of 0.1); an unchanged
// heartbeat touches no tree.
package workerregistry

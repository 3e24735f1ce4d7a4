// Package supervisor runs the hive agent's workers (DESIGN §6): it checks a
// spawn against the configured backends and the detected devices, gives the
// worker a free port, starts it from its backend's command template in its
// own process group with a per-worker callback token, waits until it is
// ready (its callback, or a health URL that answers), and sees its exit at
// once. Every change is relayed to the queen and written to a state file,
// so that an agent started again adopts the workers its previous run left
// (or ends those it cannot account for): no orphan keeps a GPU.
//
// Worker output goes to a log file per worker under the agent's logs
// folder, not to a pipe: a worker must outlive an agent restart without
// dying of SIGPIPE, and the tail of that file is what a failure reports.
package supervisor

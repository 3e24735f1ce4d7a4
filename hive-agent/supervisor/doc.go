// Package supervisor runs the hive agent's workers (README: Workers): it checks a
// spawn against the configured backends and the detected devices, gives the
// worker a free port, starts it from its backend's command template in its
// own process group with a per-worker callback token, waits until it is
// ready (its callback, or a health URL that answers), and sees its exit at
// once. Every change is relayed to the queen and written to a state file,
// so that an agent started again adopts the workers its previous run left
// (or ends those it cannot account for): no orphan keeps a GPU.
//
// Placeholders of a command template are replaced in one pass: a value put
// in (a model ref such as hf:x/{port}) is never expanded again. A backend
// whose command is missing on the node is a 503 BACKEND_NOT_INSTALLED that
// names the install to run; an unknown backend is a 422 that lists only the
// backends that can run here (installed, and GPU ones only when nvidia-smi
// finds a GPU). A ready callback is checked for the worker's own token
// first (401 whatever the id), then against the spawn: a model_ref,
// backend or device that differs, or no URL, is a 400 naming the field and
// the worker stays loading.
//
// A stop answers how long it took (stop_ms) and whether the worker ignored
// SIGTERM and was killed after the grace (killed).
//
// Once a worker is ready its health is checked every health interval (GET
// of the backend's health_url, else of the worker's URL + /health, bounded
// by the health timeout). The slots_total and slots_available of a JSON
// answer become the worker's slots, and it is busy when none is free, idle
// again when one is; an answer without them keeps the slots it had. Three
// failed checks in a row make it unhealthy (never idle); a good check makes
// it idle or busy again.
//
// A ready worker that exits on its own is handled by its backend's restart
// policy, and so is one that stays unhealthy for three more checks under
// "on-failure" (the agent first kills its process group with SIGKILL; under
// "never" it stays unhealthy): "on-failure" (the default) starts it
// again under the same id and port, after a backoff that doubles from the
// restart backoff, and counts it in the worker's restarts; "never", or more
// than max_restarts restarts within RestartWindow, leaves it failed with its
// exit code, listed until it is stopped. A spawn whose worker exits before
// it is ready fails instead, as before. Every restart and failure is logged
// with its reason.
//
// Worker output goes to a log file per worker under the agent's logs
// folder, not to a pipe: a worker must outlive an agent restart without
// dying of SIGPIPE, and the tail of that file is what a failure reports.
package supervisor

// Package provision is the SSH and SFTP layer the queen uses to reach nodes:
// add-node, preflight and install all go through it.
//
// The package has four parts:
//
//   - Building remote commands. [Quote], [Command] and [Shell] are the only
//     way the project turns argv lists into shell strings; [Raw] marks the few
//     reviewed fragments (operators, redirections) that are passed through
//     unquoted.
//   - Resolving where to connect. A [Target] names a host, possibly an alias
//     from ~/.ssh/config; [Resolve] applies HostName, Port, User,
//     IdentityFile and ProxyJump and returns a [Route].
//   - Connecting. [Dial] bounds TCP connect and SSH handshake by one deadline,
//     verifies or records the host key, and keeps the connection alive with
//     keepalives. [DialWithRetry] retries only network failures.
//   - Working on the connection. A [Client] runs one session per command,
//     uploads files atomically over SFTP and resolves the remote home.
//
// Errors are classified with sentinels ([ErrTimeout], [ErrRefused],
// [ErrNetwork], [ErrAuth], [ErrHostKeyMismatch], ...) and typed errors
// ([*HostKeyMismatchError], [*AuthError], [*ExitError]); callers use
// [errors.Is] and [errors.As], [Retryable] and [Hint], never the message text.
package provision

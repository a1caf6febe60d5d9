/**
 * The help of the commands that host isolates (`start`, `dev`), apart from
 * their code: `flotilla --help` prints it on any Node, without loading the
 * fleet (isolated-vm, piscina), which needs Node 24.
 *
 * @module
 */

/** What `flotilla start --help` prints. */
export const START_USAGE = `Usage: flotilla start [options]

Starts the fleet. Without --nats, everything runs in this process on an
in-process transport and serves on http://127.0.0.1:3000 what is published
to its in-memory control plane: \`./run start\` adds the example apps,
\`flotilla dev\` yours.
With --nats, this process plays one role against a real NATS server.

Every option may also come from a configuration file (--config <file> or
$FLOTILLA_CONFIG: YAML or JSON, one key per long option name, e.g.
"admin-port: 9464", lists for comma-separated ones) or from a FLOTILLA_<NAME>
variable (FLOTILLA_ADMIN_PORT=9464, FLOTILLA_NO_CACHE=true). The command line
wins over the variables, which win over the file.

Options:
  --config <file>       options from a YAML or JSON file (also $FLOTILLA_CONFIG)
  --nats <url>          NATS server(s), comma-separated (enables --role)
  --role <role>         shield | scheduler | worker | control (with --nats); control answers the
                        CLI's changes on a secured fleet (start it first: it creates the buckets)
  --creds <file>        NKey seed file of the role's credential (default: $FLOTILLA_CREDS; none on an
                        unsecured NATS; see flotilla auth init)
  --tls-ca <file>       CA of the NATS server's certificate (tls:// URLs use TLS with the system's CAs)
  --region <name>       region name                          (default: local)
  --host <addr>         interface to listen on               (default: 127.0.0.1)
  --port <n>            shield port, 0 = any free port        (default: 3000)
  --admin-port <n>      /healthz, /livez, /metrics (and the shield's fleet index) port of every role (default: 0, any)
  --store <dir>         where workers keep fetched bundles   (default: .flotilla/store)
  --secrets-key <file>  worker: secrets private key (PEM, flotilla secrets-key generate); repeat it,
                        newest first, during a rotation (default: $FLOTILLA_SECRETS_KEY, comma-separated
                        files; none: secret variables fail with FLOTILLA_ERR_SECRET; the embedded fleet
                        makes an ephemeral one)
  --no-examples         ignored (kept for old scripts: flotilla start never publishes the example apps)
  --domain <d>          environment hosts <app>.<d> and <env>.<app>.<d> (default: localhost)
  --preview-domain <d>  preview hosts <deployment-id>.<d>    (default: preview.localhost)
  --workers <n>         worker instances in the embedded fleet (default: 2)
  --threads <n>         piscina threads per worker  (default: 1 embedded, cores for a worker role)
  --tasks-per-thread <n>  renders a worker thread runs guest code for at once; CPU slots = threads × this
                        (default: 4)
  --io-slots <n>        worker: renders in flight at once, running or awaiting backend fetch calls (those
                        hold no CPU slot); at least the CPU slots (default: 4 × the CPU slots)
  --load-update-ms <n>  worker: least time between two load updates (extra heartbeats when renders start
                        or stop waiting on I/O or end); 0 sends one on every change (default: 50)
  --nice <n>            worker: nice value added to its render threads (0-19), so that renders never
                        delay shields, schedulers, NATS or the worker's own heartbeats (default: 5)
  --timeout-ms <n>      request deadline at the shield, ms; workers keep --wall-ms below it (default: 10000)
  --cpu-ms <n>          CPU per render before the isolate is killed (default: 1000)
  --wall-ms <n>         wall time per render, at most --timeout-ms less 2 s (or a fifth) (default: 8000)
  --heap-mb <n>         heap per isolate                     (default: 128)
  --autoscale <mode>    scheduler: off | local (start/drain worker processes here) | kubernetes
                        (export flotilla_autoscaler_desired_workers for KEDA/HPA) (default: off)
  --worker-creds <file> scheduler with --autoscale local: the workers' credential (needed with --creds)
  --min-workers <n>     autoscaler minimum                   (default: 2)
  --max-workers <n>     autoscaler maximum                   (default: 8)
  --exit-with-parent    worker: drain and exit when stdin closes (used by the local supervisor)
  --secondary-region <r>  shield: region to fail over to when the primary has no scheduler
  --no-cache            shield: forward every request (no L2 cache)
  --cache-mb <n>        shield: memory of the L2 cache, MiB            (default: 256)
  --tier <t>            shield: both (one cache tier), edge (L1: misses go to the global tier)
                        or global (L2: owns each key once, renders through the regions) (default: both)
  --shield-id <id>      shield: its id; a stable one keeps a global member's keys across restarts
                        (default: h-<random>)
  --cache-dir <dir>     shield: keep the cache on local disk here too; a restart keeps it (default: memory only)
  --cache-disk-mb <n>   shield: bound of the cache on disk, MiB (with --cache-dir) (default: 1024)
  --follower-wait-ms <n>  shield: how long coalesced requests wait for their leader (default: 5000)
  --debug-token <t>     shield: requests with x-flotilla-debug: <t> bypass the cache (default: none)
  --admin-token <t>     shield: bearer token of the purge API (POST /purge, /revalidate on the admin port)
  --admin-token-file <f>  shield: the same, read from the first line of a file
  --header-names <n>    shield: flotilla, or edgio to add Edgio's x-0-* headers beside Flotilla's
                        own (x-0-caching-status, x-0-t, x-0-device…; x-0-debug) (default: flotilla)
  --public-host <h>     shield: host every redirect and absolute URL uses (behind a CDN)
  --https-redirect      shield: redirect plain-HTTP requests to https://<public host>
  --trusted-proxies <l> shield: comma-separated IPs/CIDRs (or loopback, private) whose forwarding headers count
  --client-ip-header <h>  shield: header a trusted proxy puts the client IP in (e.g. x-forwarded-for)
  --geo-headers <l>     shield: comma-separated geo headers read from trusted proxies
  --access-log <to>     shield: one line per request to stdout, stderr or a file (appended), in the
                        --log-format (default: none)
  --access-log-sample <f>  shield: share (0-1] of requests answered below 400 that are logged; 4xx
                        and 5xx always are (default: 1)
  --heartbeat-ms <n>    worker heartbeat interval; a worker silent for 2.5 of them is lost (default: 1000)
  --queue-wait-ms <n>   scheduler: how long a miss waits for a worker with room before 503 OVERLOADED (default: 1000)
  --fair-share-reserve <f>  scheduler: fraction of the region's slots an app never borrows, kept
                        for another app's first render; 0 lets a lone app take them all (default: 0.25)
  --penalty-box-failures <n>  scheduler: an app with this many renders failing by its fault (limits,
                        render errors) within 10 s, half its renders or more, is paced one render at
                        a time; 0 turns the penalty box off (default: 5)
  --log-format <f>      text | json: every line, the bundles' console lines too (default: text)
  --log-level <l>       trace | debug | info | warn | error | fatal | silent (default: info)
  -h, --help            show this help
`;

/** What `flotilla dev --help` prints. */
export const DEV_USAGE = `Usage: flotilla dev [--dir <app>] [--port <n>] [--cache on|off] [--no-watch]

Builds the app in --dir (default: the current directory), runs it on an
embedded fleet at http://127.0.0.1:<port>/<app>/ and http://<app>.localhost:<port>/,
and rebuilds and re-publishes it on every change (a failed build keeps the
last good deployment serving).

Options:
  --dir <dir>        app directory holding flotilla.config.json   (default: .)
  --port <n>         shield port, 0 = any free port                (default: 3000)
  --cache on|off     the shield's L2 cache, as in production        (default: off)
  --no-watch         build and serve once, no rebuilds
  --log-format <f>   text | json                                   (default: text)
  --log-level <l>    trace | debug | info | warn | error | fatal | silent (default: info)
  -h, --help         show this help

Exits 2 when --dir does not exist or holds no flotilla.config.json. Saves that replace
the file (editors' atomic saves, sed -i) are seen like any other.
`;

"""CLI commands of the runtime area: `dev`, `services`, `connectors`, `build-context`,
`gateway-config`.

Heavy imports happen inside the commands, so `autostock --help` stays quick.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path

from autostock.config import environment_with
from autostock.runtime import GATEWAY_THREADS, gateway_workers


def _environ(args: argparse.Namespace) -> dict[str, str]:
    return environment_with(getattr(args, "env_file", None))


def cmd_services(args: argparse.Namespace) -> int:
    from autostock import services
    if args.action == "down":
        stopped = services.stop_recorded(args.data_dir)
        print("stopped: " + (", ".join(stopped) or "nothing (no server of ours was running)"))
        return 0
    environ = _environ(args)
    if args.action == "up":
        started = services.ensure(environ, args.data_dir)
        for server in started.started:
            print(f"started {server.kind} on 127.0.0.1:{server.port} (data in {server.directory})")
        print("all services answer" + ("" if started.started else "; nothing to start"))
        return 0
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else list(args.cmd)
    if not command:
        print("usage: autostock services run -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    with services.ensured(environ, args.data_dir) as svc:
        return _run_child(command, {**environ, **svc.environment()})


def _run_child(command: list[str], env: dict[str, str]) -> int:
    # The child shares our terminal: Ctrl-C reaches it directly, and we wait for it to finish
    # before stopping the servers; SIGTERM sent to us is passed on.
    proc = subprocess.Popen(command, env=env)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT,)}
    signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        code = proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


def configure_services(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True)
    for action, help_text in (("up", "start what does not answer, leave it running"),
                              ("down", "stop what `up` started"),
                              ("run", "start what is missing, run -- COMMAND, stop them after")):
        a = actions.add_parser(action, help=help_text)
        a.add_argument("--env-file", default=None, help="read settings from this file too")
        a.add_argument("--data-dir", default=".data", help="where local servers keep their data")
        if action == "run":
            a.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")


def cmd_dev(args: argparse.Namespace) -> int:
    from autostock.runtime.supervisor import DevOptions, run_dev
    opts = DevOptions(stack_path=Path(args.stack), root=Path(args.root) if args.root else None,
                      host=args.host, port=args.port, data_dir=Path(args.data_dir),
                      workers=args.workers, threads=args.threads)
    return run_dev(_environ(args), opts)


def configure_dev(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="stack.yml")
    p.add_argument("--root", default=None, help="where handler folders are (default: the stack's folder)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--data-dir", default=".data")
    p.add_argument("--workers", type=int, default=gateway_workers())
    p.add_argument("--threads", type=int, default=GATEWAY_THREADS)


def cmd_connectors(args: argparse.Namespace) -> int:
    """The cron and NATS connectors on their own (the k3s connectors Deployment)."""
    from autostock.config import load_settings
    from autostock.runtime import connectors, stack
    environ = _environ(args)
    connectors.serve(stack.load(args.stack, environ), load_settings(environ), args.gateway_url)
    return 0


def configure_connectors(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="stack.yml", help="its topic/schedule annotations say what to call")
    p.add_argument("--gateway-url", default="http://127.0.0.1:8080")


def cmd_build_context(args: argparse.Namespace) -> int:
    from autostock.runtime import build_context, stack
    st = stack.load(args.stack, _environ(args))
    for folder in build_context.write(st, Path(args.out)):
        print(f"wrote {folder}")
    return 0


def configure_build_context(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="stack.yml")
    p.add_argument("--out", default="build")


def cmd_gateway_config(args: argparse.Namespace) -> int:
    from autostock.runtime import nginx, stack
    text = nginx.render(stack.load(args.stack, _environ(args)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


def configure_gateway_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stack", default="stack.yml")
    p.add_argument("--out", default="infra/nginx/routes.conf")


COMMANDS = {
    "dev": ("run the whole platform locally (services, migrations, gateway, connectors)", cmd_dev,
            configure_dev),
    "services": ("make PostgreSQL/Redis/NATS answer: up, down, run -- CMD", cmd_services, configure_services),
    "connectors": ("call functions on their cron schedules and NATS topics (from stack.yml), with INTERNAL_TOKEN",
                   cmd_connectors, configure_connectors),
    "build-context": ("write each function's Docker build context (like faas-cli build --shrinkwrap)",
                      cmd_build_context, configure_build_context),
    "gateway-config": ("write the nginx routes derived from stack.yml", cmd_gateway_config,
                       configure_gateway_config),
}

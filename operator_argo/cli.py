"""The `operator-argo` command: serve, migrate, render, demo, receipt and the job steps."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from operator_argo import __version__
from operator_argo.config import Settings, validate_settings
from operator_argo.domain.errors import ConfigurationError, OperatorError
from operator_argo.processes import ChildRole


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="operator-argo",
        description="Ocean Compute-to-Data operator on Argo Workflows or an embedded local engine.",
    )
    parser.add_argument("--version", action="version", version=f"operator-argo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="run the HTTP API and the job engine (settings from env vars)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="HTTP processes sharing the port (default: OPERATOR_WORKERS, 1)",
    )
    # A serving child started by `serve --workers N` (operator_argo/processes.py).
    serve.add_argument("--child", choices=("primary", "worker"), help=argparse.SUPPRESS)
    serve.add_argument("--primary-pid", type=int, help=argparse.SUPPRESS)
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    render = commands.add_parser("render", help="print the Argo Workflow for a POST /compute body")
    render.add_argument("request", help="path of a JSON request body ('-' for stdin)")
    render.add_argument("--environment", help="environment id (default: the request's)")
    demo = commands.add_parser("demo", help="run one real job end to end on the embedded stack")
    demo.add_argument("--keep", action="store_true", help="keep the demo's data directory")
    receipt = commands.add_parser("receipt", help="check a finished job's signed receipt")
    receipts = receipt.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = receipts.add_parser(
        "verify",
        help="check a receipt's signature and, given downloaded results, their sizes and hashes",
        description="Exit 0 when the receipt is signed by ADDRESS (default: the environment "
        "address the receipt states) and every FILE, matched by name, has the size and sha256 "
        "the receipt states; 1 otherwise, with each problem on stderr.",
    )
    verify.add_argument("receipt", help="the receipt.json of a job (getResult of type receipt)")
    verify.add_argument("files", nargs="*", help="downloaded results, named as the job named them")
    verify.add_argument("--address", help="the environment's consumerAddress (GET /environments)")
    step = commands.add_parser("step", help="run a job step (inside a job pod)")
    steps = step.add_subparsers(dest="name", required=True, metavar="STEP")
    from operator_argo.steps.env import STEP_HELP

    for name, summary in STEP_SUMMARIES.items():
        steps.add_parser(
            name,
            help=summary,
            description=f"{summary}; settings come from the pod's environment.",
            epilog=STEP_HELP[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    return parser


STEP_SUMMARIES = {
    "configure": "lay out the job volume, download the inputs and the algorithm",
    "publish": "upload the outputs and logs to the result storage, report the list",
}


def _run_step(name: str) -> int:
    if name == "configure":
        from operator_argo.steps.configure import main as configure_main

        return configure_main([])
    from operator_argo.steps.publish import main as publish_main

    return publish_main([])


def _render(path: str, environment: str | None) -> int:
    import json

    from operator_argo.config import load_settings
    from operator_argo.engines.argo.manifest import render_request

    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    body = json.loads(text)
    if environment:
        body["environment"] = environment
    sys.stdout.write(render_request(body, load_settings()))
    return 0


def _verify_receipt(path: str, files: Sequence[str], address: str | None) -> int:
    import json

    from operator_argo.auth.receipts import verify_receipt

    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [name for name in files if not Path(name).is_file()]
    except (OSError, ValueError) as exc:
        print(f"operator-argo: {path} is not a readable receipt: {exc}", file=sys.stderr)
        return 1
    if missing or not isinstance(document, dict):
        what = f"no such file: {', '.join(missing)}" if missing else "not a JSON object"
        print(f"operator-argo: {what}", file=sys.stderr)
        return 1
    verdict = verify_receipt(document, address=address, files=[Path(name) for name in files])
    for problem in verdict.problems:
        print(f"operator-argo: receipt refused: {problem}", file=sys.stderr)
    if not verdict.valid:
        return 1
    checked = f"; {len(files)} file(s) match" if files else ""
    print(f"receipt valid: signed by {verdict.signer}{checked}")
    return 0


def _serve_settings(settings: Settings, workers: int | None) -> Settings:
    """`settings` with `--workers` applied (checked as the setting is)."""
    if workers is None:
        return settings
    if workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    changed = dataclasses.replace(settings, workers=workers)
    validate_settings(changed)
    return changed


def _child_role(args: argparse.Namespace) -> ChildRole | None:
    if args.child is None:
        return None
    return ChildRole(
        primary=args.child == "primary", primary_pid=args.primary_pid, ready_fd=args.ready_fd
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = _parser().parse_args(argv)
    if args.command == "step":
        return _run_step(args.name)
    try:
        if args.command == "render":
            return _render(args.request, args.environment)
        if args.command == "receipt":
            return _verify_receipt(args.receipt, args.files, args.address)
        from operator_argo import app
        from operator_argo.config import load_settings

        if args.command == "serve":
            settings = _serve_settings(load_settings(), args.workers)
            role = _child_role(args)
            with asyncio.Runner(loop_factory=app.event_loop_factory(settings)) as runner:
                return runner.run(app.serve(settings, role=role))
        if args.command == "migrate":
            return asyncio.run(app.migrate_only())
        if args.command == "demo":
            from operator_argo import demo

            return asyncio.run(demo.run(keep=args.keep))
    except ConfigurationError as exc:
        print(f"operator-argo: configuration error: {exc.message}", file=sys.stderr)
        return 2
    except OperatorError as exc:
        print(f"operator-argo: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())

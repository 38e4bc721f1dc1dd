"""How the algorithm step starts: its image reference and the launcher around the entrypoint."""

from __future__ import annotations

import re

from operator_argo.domain.job import ContainerSpec
from operator_argo.engines.argo.builder_env import ALGORITHM_FILE, ALGORITHM_LOG, ENTRYPOINT_VAR

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ALGO = re.compile(r"\$\{ALGO\}|\$ALGO(?![A-Za-z0-9_])")

# The launcher is fixed text: the caller's entrypoint only ever reaches the shell as the value
# of an environment variable, decoded by `printf %b` (a POSIX shell builtin) and run by `eval`
# in a subshell inside the algorithm's own container. So nothing the caller writes changes this
# template's shape, the other steps, or reaches Argo's `{{...}}` substitution. `eval` (not
# `exec`) keeps compound entrypoints whole (`a && b`, `a; exit 3`), and the subshell keeps an
# `exit` in them from skipping the status report.
#
# Output goes to the algorithm's log file and, through `tee`, to the container's own output as
# well, where `kubectl logs` and the Argo UI show it. A pipeline's status is its last command's,
# so the entrypoint's status travels apart (on descriptor 4, into `$(...)`) and becomes the
# container's exit code. An image without `tee` still gets the log file, only.
_RUN = f'(eval "$(printf \'%b\' "${ENTRYPOINT_VAR}")")'
LAUNCHER = (
    "if command -v tee >/dev/null 2>&1; then "
    "exec 3>&1; "
    f"status=$( {{ {{ {_RUN} 2>&1 3>&- 4>&-; echo $? >&4; }} "
    f"| tee -a {ALGORITHM_LOG} >&3 3>&- 4>&-; }} 4>&1 ); "
    'exit "${status:-1}"; '
    "fi; "
    f"exec >>{ALGORITHM_LOG} 2>&1; {_RUN}"
)


def algorithm_image(container: ContainerSpec) -> str:
    """`image@sha256:...` when the checksum is a valid digest (pinned), else `image:tag`."""
    checksum = container.checksum.strip().lower()
    if _DIGEST.fullmatch(checksum):
        return f"{container.image}@{checksum}"
    return f"{container.image}:{container.tag or 'latest'}"


def resolve_entrypoint(entrypoint: str) -> str:
    """The entrypoint with `$ALGO` (or `${ALGO}`) replaced by the algorithm file's path."""
    return _ALGO.sub(ALGORITHM_FILE, entrypoint)


def encode_entrypoint(command: str) -> str:
    """`command` escaped for `printf %b`: backslashes doubled and every `{` written in octal.

    `printf %b` turns it back into `command` byte for byte, while the encoded text can never
    contain `{{`, which Argo would otherwise treat as a template expression.
    """
    return command.replace("\\", "\\\\").replace("{", "\\0173")

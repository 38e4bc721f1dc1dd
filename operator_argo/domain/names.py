"""Wire names: what operator-argo calls its workflows and the labels and annotations it writes.

The one home of these names: the workflow builder writes them, status parsing and the watcher
read them, the local engine names its runs with them. The chart's NetworkPolicies select job
pods by the step and network labels, and operators filter the Argo UI by the others
(docs/operations.md), so changing one is a breaking change.
"""

from __future__ import annotations

WORKFLOW_PREFIX = "c2d-"
MANAGED_BY = "operator-argo"

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_SELECTOR = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
JOB_ID_LABEL = "operator-argo/job-id"
ENVIRONMENT_LABEL = "operator-argo/environment"
OWNER_LABEL = "operator-argo/owner"
STEP_LABEL = "operator-argo/step"  # configure, algorithm, filter or publish
NETWORK_LABEL = "operator-argo/network"  # allow or deny (the algorithm's egress)

TITLE_ANNOTATION = "workflows.argoproj.io/title"
DESCRIPTION_ANNOTATION = "workflows.argoproj.io/description"
AGREEMENT_ANNOTATION = "operator-argo/agreement-id"
# Why the operator itself ended a workflow (empty while it has not): written together with the
# shutdown, read back by status parsing (the job's error) and by the publish step (its logs).
STOP_REASON_ANNOTATION = "operator-argo/stop-reason"

# Written by Argo, read by us: a finished workflow carries this label with value "true".
COMPLETED_LABEL = "workflows.argoproj.io/completed"
# Written by Argo on every pod of a workflow (its name): with the step label, finds a step's pod.
WORKFLOW_LABEL = "workflows.argoproj.io/workflow"
# The output parameter the configure and publish steps report their JSON result in.
RESULT_PARAMETER = "result"

# The filtering step's folder in the job's admin area (which the algorithm never sees): the
# step's log, and the mark it leaves only when its command succeeded. Publish reads both, and
# publishes the outputs of a job with a filter only when the mark is there.
FILTER_FOLDER = "filter"
FILTER_LOG = "filtering.log"
FILTER_PASSED = "passed"
# The result type of the algorithm's published log (publish uploads it, computeLogs serves it).
ALGORITHM_LOG_TYPE = "algorithmLog"


def workflow_name(job_id: str) -> str:
    """The name of a job's workflow."""
    return f"{WORKFLOW_PREFIX}{job_id}"


def job_id_of(workflow: str) -> str:
    """The job id in a workflow name (the name itself when it lacks the prefix)."""
    return workflow.removeprefix(WORKFLOW_PREFIX)

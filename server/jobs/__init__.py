"""Jobs: their domain values, the registry that finds, creates, changes and deletes them,
their bearer tokens and their watchers. The service layer is the only caller."""
from lrctl.server.jobs.model import Decision, JobEvent, JobSpec, JobView, Workers
from lrctl.server.jobs.names import MAX_STEP, check_counter, check_job_id, check_metric_names
from lrctl.server.jobs.registry import JobRegistry, Limits
from lrctl.server.jobs.tokens import JobTokens, issue_job_token, token_hash
from lrctl.server.jobs.watchers import Subscription

__all__ = ["Decision", "JobEvent", "JobRegistry", "JobSpec", "JobTokens", "JobView", "Limits", "MAX_STEP",
           "Subscription", "Workers", "check_counter", "check_job_id", "check_metric_names", "issue_job_token", "token_hash"]

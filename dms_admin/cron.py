"""What `manage.py rqcron dms_admin.cron` runs. Feature apps add their dispatchers here."""

from rq import cron

from backups.jobs import dispatch_due_backups
from dms_admin.jobs import housekeeping_job
from spam.jobs import dispatch_due_trainings

# Every minute: commit hand edits promptly, so history shows who-did-what even between writes.
cron.register(housekeeping_job, "default", cron="* * * * *", job_timeout=120, name="housekeeping")
cron.register(dispatch_due_backups, "default", cron="* * * * *", job_timeout=120, name="backup-dispatch")
cron.register(dispatch_due_trainings, "default", cron="* * * * *", job_timeout=60, name="spam-training-dispatch")

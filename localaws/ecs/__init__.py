"""ECS tasks that really run: moto keeps clusters and task definitions, but its RunTask cannot run
anything (and fails for Fargate with awsvpc). `models` runs each container as a local process
from `localaws/images.toml`; `responses` answers RunTask, DescribeTasks, ListTasks and StopTask."""

"""SageMaker training jobs that really run: `models` lays out `/opt/ml` and runs the algorithm as a
local process, `responses` answers CreateTrainingJob, DescribeTrainingJob, ListTrainingJobs and
StopTrainingJob (moto would only record the job)."""

"""SageMaker Processing jobs that really run: `models` downloads the inputs into the container's
`/opt/ml/processing`, runs the image's entry point as a local process and uploads the outputs;
`responses` answers CreateProcessingJob, DescribeProcessingJob, ListProcessingJobs and
StopProcessingJob (moto would only record the job)."""

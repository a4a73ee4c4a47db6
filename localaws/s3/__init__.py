"""S3: moto keeps the buckets; `bucket_policies` refuses bucket policies as S3 does and gives
moto's CloudFormation `AWS::S3::BucketPolicy`, which it does not model."""

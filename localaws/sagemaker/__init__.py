"""SageMaker: moto keeps models, endpoint configs and feature groups; this package runs what moto
only records. `training` runs training jobs as local processes (the script-mode contract),
`endpoints` serves real-time endpoints from local model servers, and `patches` adds
`AWS::SageMaker::FeatureGroup` to moto's CloudFormation and keeps the groups' online-store config.
"""

#!/usr/bin/env python3
"""Creates, idempotently, exactly the AWS resources of resources.json on an emulator
(moto_server or LocalStack), then prints the environment to export. Progress goes to stderr;
stdout carries only `export` lines."""
import json
import os
import sys

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))


def log(*a):
    print(*a, file=sys.stderr)


def main():
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    with open(os.path.join(HERE, "resources.json")) as f:
        res = json.load(f)
    region = res["region"]
    kw = dict(
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
        config=Config(retries={"max_attempts": 10, "mode": "standard"}),
    )
    ddb, sqs, s3, kms, ses = (boto3.client(s, **kw) for s in ("dynamodb", "sqs", "s3", "kms", "ses"))
    env = {}

    existing = set(ddb.list_tables()["TableNames"])
    for t in res["tables"]:
        if t["name"] not in existing:
            attrs = {t["hash_key"]}
            key_schema = [{"AttributeName": t["hash_key"], "KeyType": "HASH"}]
            if t.get("range_key"):
                attrs.add(t["range_key"])
                key_schema.append({"AttributeName": t["range_key"], "KeyType": "RANGE"})
            for ix in t["indexes"]:
                attrs |= {ix["hash_key"], ix["range_key"]}
            args = dict(
                TableName=t["name"],
                BillingMode="PAY_PER_REQUEST",
                KeySchema=key_schema,
                AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)],
                SSESpecification={"Enabled": t["sse"]},
            )
            if t.get("stream"):
                args["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": t["stream"]}
            if t["indexes"]:
                args["GlobalSecondaryIndexes"] = [
                    {
                        "IndexName": ix["name"],
                        "KeySchema": [
                            {"AttributeName": ix["hash_key"], "KeyType": "HASH"},
                            {"AttributeName": ix["range_key"], "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                    for ix in t["indexes"]
                ]
            ddb.create_table(**args)
            ddb.get_waiter("table_exists").wait(TableName=t["name"])
            if t["ttl_attribute"]:
                ddb.update_time_to_live(
                    TableName=t["name"],
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": t["ttl_attribute"]},
                )
            log(f"created table {t['name']}")
        elif t.get("stream") and not (ddb.describe_table(TableName=t["name"])["Table"].get("StreamSpecification") or {}).get("StreamEnabled"):
            # A table made before it had a stream (an emulator left running).
            ddb.update_table(TableName=t["name"],
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": t["stream"]})
            log(f"enabled the stream of table {t['name']}")
        if t["pitr"]:
            ddb.update_continuous_backups(
                TableName=t["name"],
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        env[t["env"]] = t["name"]

    for q in res["queues"]:
        common = {"FifoQueue": "true", "SqsManagedSseEnabled": "true"}
        dlq_url = sqs.create_queue(QueueName=q["dlq"], Attributes=dict(common))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attrs = dict(
            common,
            VisibilityTimeout=str(q["visibility_timeout"]),
            RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": q["max_receive_count"]}),
        )
        try:
            url = sqs.create_queue(QueueName=q["name"], Attributes=attrs)["QueueUrl"]
        except sqs.exceptions.QueueNameExists:
            url = sqs.get_queue_url(QueueName=q["name"])["QueueUrl"]
            sqs.set_queue_attributes(QueueUrl=url, Attributes={k: v for k, v in attrs.items() if k != "FifoQueue"})
        env[q["env"]] = url
        log(f"queue {q['name']} ready")

    b = res["bucket"]
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=b["name"])
        else:
            s3.create_bucket(Bucket=b["name"], CreateBucketConfiguration={"LocationConstraint": region})
        log(f"created bucket {b['name']}")
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass
    s3.put_bucket_website(
        Bucket=b["name"],
        WebsiteConfiguration={
            "IndexDocument": {"Suffix": b["index_document"]},
            "ErrorDocument": {"Key": b["error_document"]},
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=b["name"],
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": f"expire-{rule['prefix'].rstrip('/')}",
                    "Status": "Enabled",
                    "Filter": {"Prefix": rule["prefix"]},
                    "Expiration": {"Days": rule["days"]},
                }
                for rule in b["lifecycle"]
            ]
        },
    )
    # The template's policy: anyone may GetObject these keys, nothing else (never ListBucket).
    s3.put_bucket_policy(
        Bucket=b["name"],
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicReportsOnly",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": [f"arn:aws:s3:::{b['name']}/{k}" for k in b["public_keys"]],
                    }
                ],
            }
        ),
    )
    env[b["env"]] = b["name"]

    # The key that seals the credentials in task messages: found by its alias, else created.
    k = res["key"]
    try:
        key_id = kms.describe_key(KeyId=k["alias"])["KeyMetadata"]["KeyId"]
    except kms.exceptions.NotFoundException:
        key_id = kms.create_key(
            Description="ccaas: seals the device credentials in task messages (submit encrypts, processor decrypts)",
            KeySpec="SYMMETRIC_DEFAULT",
            KeyUsage="ENCRYPT_DECRYPT",
        )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=k["alias"], TargetKeyId=key_id)
        log(f"created key {k['alias']} ({key_id})")
    if k["rotation"]:
        kms.enable_key_rotation(KeyId=key_id)
    else:
        kms.disable_key_rotation(KeyId=key_id)
    env[k["env"]] = k["alias"]

    # The sender of email notices: a verified SES identity (the emulators verify at once).
    m = res.get("mail")
    if m:
        if m["from"] not in ses.list_identities(IdentityType="EmailAddress")["Identities"]:
            ses.verify_email_identity(EmailAddress=m["from"])
            log(f"verified SES sender {m['from']}")
        env[m["env"]] = m["from"]

    out = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": kw["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": kw["aws_secret_access_key"],
        **env,
    }
    for k, v in out.items():
        print(f"export {k}='{v}'")


if __name__ == "__main__":
    main()

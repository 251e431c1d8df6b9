#!/usr/bin/env python3
"""Checks that template.yaml, localstack/resources.json and the resources that
localstack/up created on the running emulator agree: table names, keys, GSIs and TTL; FIFO
queues, their DLQs, maxReceiveCount and visibility; the bucket and its website config.
Fails (exit 1) listing every difference, so one side cannot change alone."""
import json
import os
import re
import sys

import boto3
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ACCOUNT, REGION = "123456789012", "us-east-1"


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def resolve(v, params):
    """Resolves !Sub with parameters and pseudo parameters; other intrinsics stay opaque."""
    if isinstance(v, dict) and "Sub" in v and isinstance(v["Sub"], str):
        def rep(m):
            key = m.group(1)
            return {"AWS::AccountId": ACCOUNT, "AWS::Region": REGION}.get(key, params.get(key, m.group(0)))
        return re.sub(r"\$\{([^}]+)\}", rep, v["Sub"])
    return v


def from_template():
    with open(os.path.join(ROOT, "template.yaml")) as f:
        t = yaml.load(f, Loader=CfnLoader)
    params = {k: str(p.get("Default")) for k, p in t["Parameters"].items()}
    res = t["Resources"]
    arn_of = {}
    tables, queues, bucket = {}, {}, None
    for logical, r in res.items():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::DynamoDB::Table":
            name = resolve(p["TableName"], params)
            tables[name] = {
                "hash_key": next(k["AttributeName"] for k in p["KeySchema"] if k["KeyType"] == "HASH"),
                "ttl_attribute": (p.get("TimeToLiveSpecification") or {}).get("AttributeName"),
                "indexes": sorted(
                    (ix["IndexName"],
                     next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "HASH"),
                     next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "RANGE"))
                    for ix in p.get("GlobalSecondaryIndexes", [])
                ),
            }
        elif r["Type"] == "AWS::SQS::Queue":
            arn_of[logical] = resolve(p["QueueName"], params)
            queues[logical] = p
        elif r["Type"] == "AWS::S3::Bucket":
            w = p["WebsiteConfiguration"]
            bucket = {"name": resolve(p["BucketName"], params), "index_document": w["IndexDocument"], "error_document": w["ErrorDocument"]}
    qs = {}
    for logical, p in queues.items():
        rp = p.get("RedrivePolicy")
        if not rp:
            continue
        dlq_logical = rp["deadLetterTargetArn"]["GetAtt"].split(".")[0]
        qs[arn_of[logical]] = {
            "dlq": arn_of[dlq_logical],
            "max_receive_count": int(rp["maxReceiveCount"]),
            "visibility_timeout": int(p["VisibilityTimeout"]),
            "fifo": bool(p.get("FifoQueue")) and bool(queues[dlq_logical].get("FifoQueue")),
            "sse": bool(p.get("SqsManagedSseEnabled")),
        }
    return tables, qs, bucket


def from_resources():
    with open(os.path.join(HERE, "resources.json")) as f:
        r = json.load(f)
    tables = {
        t["name"]: {
            "hash_key": t["hash_key"],
            "ttl_attribute": t["ttl_attribute"],
            "indexes": sorted((ix["name"], ix["hash_key"], ix["range_key"]) for ix in t["indexes"]),
        }
        for t in r["tables"]
    }
    qs = {
        q["name"]: {"dlq": q["dlq"], "max_receive_count": q["max_receive_count"],
                    "visibility_timeout": q["visibility_timeout"], "fifo": True, "sse": True}
        for q in r["queues"]
    }
    b = r["bucket"]
    return tables, qs, {"name": b["name"], "index_document": b["index_document"], "error_document": b["error_document"]}


def from_emulator(expected_tables, expected_queues, expected_bucket):
    kw = dict(endpoint_url=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"), region_name=REGION,
              aws_access_key_id="test", aws_secret_access_key="test")
    ddb, sqs, s3 = (boto3.client(s, **kw) for s in ("dynamodb", "sqs", "s3"))
    tables = {}
    for name in expected_tables:
        d = ddb.describe_table(TableName=name)["Table"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        tables[name] = {
            "hash_key": next(k["AttributeName"] for k in d["KeySchema"] if k["KeyType"] == "HASH"),
            "ttl_attribute": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
            "indexes": sorted(
                (ix["IndexName"],
                 next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "HASH"),
                 next(k["AttributeName"] for k in ix["KeySchema"] if k["KeyType"] == "RANGE"))
                for ix in d.get("GlobalSecondaryIndexes", [])
            ),
        }
    qs = {}
    for name in expected_queues:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        rp = json.loads(a["RedrivePolicy"])
        dlq_name = rp["deadLetterTargetArn"].split(":")[-1]
        dlq_url = sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
        dlq_fifo = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["FifoQueue"])["Attributes"].get("FifoQueue")
        qs[name] = {"dlq": dlq_name, "max_receive_count": int(rp["maxReceiveCount"]),
                    "visibility_timeout": int(a["VisibilityTimeout"]),
                    "fifo": a.get("FifoQueue") == "true" and dlq_fifo == "true",
                    "sse": a.get("SqsManagedSseEnabled") == "true"}
    w = s3.get_bucket_website(Bucket=expected_bucket["name"])
    bucket = {"name": expected_bucket["name"], "index_document": w["IndexDocument"]["Suffix"],
              "error_document": w["ErrorDocument"]["Key"]}
    return tables, qs, bucket


def diff(label_a, a, label_b, b):
    out = []
    for part, x, y in zip(("tables", "queues", "bucket"), a, b):
        if x != y:
            out.append(f"{part}: {label_a} != {label_b}\n  {label_a}: {json.dumps(x, sort_keys=True)}\n  {label_b}: {json.dumps(y, sort_keys=True)}")
    return out


def main():
    tpl = from_template()
    res = from_resources()
    problems = diff("template.yaml", tpl, "resources.json", res)
    if "--no-emulator" not in sys.argv:
        emu = from_emulator(*res)
        problems += diff("resources.json", res, "emulator", emu)
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    print(f"parity ok: {len(res[0])} tables, {len(res[1])} queues, 1 bucket agree across template, resources.json and the emulator")


if __name__ == "__main__":
    main()

"""Runs on Databricks: reads the model, writes scores (paths arrive as -model/-scores URIs)."""

import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--epochs")
parser.add_argument("-model")
parser.add_argument("-scores")
args = parser.parse_args()

from pyspark.sql import SparkSession  # noqa: E402

spark = SparkSession.builder.getOrCreate()
model = spark.read.text(args.model)
model.write.mode("overwrite").text(args.scores)

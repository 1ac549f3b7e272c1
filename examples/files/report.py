# Run with its data file sent in and its outputs asked back:
#   pexos-run --file examples/files/sales.csv --output summary.csv \
#     --save-to results examples/files/report.py
import matplotlib.pyplot as plt
import pandas as pd


def main():
    df = pd.read_csv("sales.csv")
    df.describe().to_csv("summary.csv")
    df.plot(x="month", y="total", title="Sales")
    return {"total": int(df.total.sum()), "months": len(df)}

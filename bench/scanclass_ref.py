#!/usr/bin/python3
"""Reference for `just bench`: the harvester's path to scoring rows, for comparison
with scanclass. It trains XGBClassifier(n_estimators=210) on TRAIN (not
timed), then times reading ROWS with pandas, predicting with xgboost and
writing the rows with score and prediction columns as CSV, and prints
"rows seconds". Uses Debian's python3-pandas and python3-xgboost."""
import sys, time
import pandas as pd
import xgboost as xgb

FEATURES = ["duration", "SYN", "ACK", "FIN", "RST", "URG", "PSH"]

def main(train, rows, out):
    t = pd.read_csv(train)
    model = xgb.XGBClassifier(n_estimators=210, tree_method="hist", n_jobs=2)
    model.fit(t[FEATURES], t["label"])
    start = time.perf_counter()
    df = pd.read_csv(rows)
    score = model.predict_proba(df[FEATURES])[:, 1]
    df["score"] = score.round(6)
    df["prediction"] = (score >= 0.5).astype(int)
    df.to_csv(out, index=False)
    print(len(df), time.perf_counter() - start)

if __name__ == "__main__":
    main(*sys.argv[1:4])

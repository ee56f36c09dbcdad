#!/usr/bin/python3
"""Reference for `just bench`: time XGBClassifier(n_estimators=210,
tree_method=hist) fitting on TRAIN (the harvester's seven features), the model
the harvester exported. Prints "rows seconds"."""
import sys, time
import pandas as pd
import xgboost as xgb

FEATURES = ["duration", "SYN", "ACK", "FIN", "RST", "URG", "PSH"]

t = pd.read_csv(sys.argv[1])
model = xgb.XGBClassifier(n_estimators=210, tree_method="hist", n_jobs=2)
start = time.perf_counter()
model.fit(t[FEATURES], t["label"])
print(len(t), time.perf_counter() - start)

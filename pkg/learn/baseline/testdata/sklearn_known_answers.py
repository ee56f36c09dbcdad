#!/usr/bin/python3
# Produces the known answers of TestHarvesterMatchesScikitLearn (and of eval's
# TestMetricsMatchScikitLearn) with Debian's python3-sklearn 1.2.1:
#   /usr/bin/python3 pkg/learn/baseline/testdata/sklearn_known_answers.py ../shared/seed/datasets/train
# Train: every 100th row of bad.csv and of good.csv (247 rows); test: all rows.
import csv, sys
import numpy as np
from sklearn.naive_bayes import GaussianNB
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import (accuracy_score, matthews_corrcoef, roc_auc_score, confusion_matrix,
                             precision_score, recall_score, f1_score)

F = ['duration', 'SYN', 'ACK', 'FIN', 'RST', 'URG', 'PSH']
d = sys.argv[1]
rows = []
for name in ('bad.csv', 'good.csv'):
    rows.append(list(csv.DictReader(open(f'{d}/{name}'))))
def xy(rs):
    return np.array([[float(r[f]) for f in F] for r in rs]), np.array([int(r['label']) for r in rs])
Xtr, ytr = xy(rows[0][::100] + rows[1][::100])
Xte, yte = xy(rows[0] + rows[1])

def report(name, p):
    pred = (p >= 0.5).astype(int)
    tn, fp, fn, tp = confusion_matrix(yte, pred).ravel()
    print(f"{name}: TP {tp} TN {tn} FN {fn} FP {fp} accuracy {accuracy_score(yte, pred):.6f} "
          f"MCC {matthews_corrcoef(yte, pred):.6f} precision {precision_score(yte, pred):.6f} "
          f"recall {recall_score(yte, pred):.6f} F1 {f1_score(yte, pred):.6f} AUC {roc_auc_score(yte, p):.6f}")

report('GaussianNB', GaussianNB(var_smoothing=1e-9).fit(Xtr, ytr).predict_proba(Xte)[:, 1])
sc = StandardScaler().fit(Xtr)
lr = LogisticRegression(C=1 / (1e-4 * len(ytr)), tol=1e-10, max_iter=10000).fit(sc.transform(Xtr), ytr)
report('LogReg', lr.predict_proba(sc.transform(Xte))[:, 1])

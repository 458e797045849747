"""Analysis of a results folder: statistics, budgets and verdicts, plans, comparisons.

Everything here is a pure function of the files a run wrote (see ``ctxbench.results``).
"""

"""composition: run lifecycles"""

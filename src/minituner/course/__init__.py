"""The course layer: the /break catalogue, learner workspaces, the shipped contract and the grader.

It stands on the library (model, lora, grammar, train, evaluate, checkpoint, recipes, interop) and
holds the course's state in the course folder the user works in; the library imports nothing of it.
"""

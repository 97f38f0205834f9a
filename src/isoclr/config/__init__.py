"""The study's configuration: typed settings per stage, checks, the job graph, plan and cost."""

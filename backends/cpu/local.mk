# backends/cpu: vigia's own CPU engine.

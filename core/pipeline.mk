# core/ detection pipeline: workers, IPC, pool, images, models.

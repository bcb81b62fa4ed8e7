-- A results file written by archrank before the one-store schema (commit 6690865), as SQL.
-- Written by the store classes of that commit (Store, EproxyStore, EznasStore, TrainingStore, HistoryDB); read by tests/test_store_migration.py.
BEGIN TRANSACTION;
CREATE TABLE econas_trainings (
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    setting TEXT NOT NULL,
    seed INTEGER NOT NULL,
    data TEXT NOT NULL,
    device TEXT NOT NULL,
    accuracy REAL,
    seconds REAL,
    cpu_seconds REAL,
    epochs INTEGER,
    iterations INTEGER,
    final_train_loss REAL,
    final_train_accuracy REAL,
    num_params INTEGER,
    resolution INTEGER,
    train_samples INTEGER,
    test_samples INTEGER,
    threads INTEGER,
    extra TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (space, arch_key, setting, seed, data)
);
INSERT INTO "econas_trainings" VALUES('nb201','|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|','c4r4s0e10',0,'cifar10-full','cpu',48.0,60.0,59.0,10,1950,1.2,55.0,1000,8,50000,10000,1,'{"recipe": "", "width": {"stem": 4}}',1.7960236767049503326e+09);
CREATE TABLE eproxy_configs (
    config_key TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
INSERT INTO "eproxy_configs" VALUES('d47da5d7f186f464','{"alpha":0.5,"batch_size":16,"branch_decay":0.5,"branches":[{"barrier_kernel":3,"head_channels":512,"head_kernel":3,"level":1.0,"signals":["dot"],"stage":-1,"target_channels":64},{"barrier_kernel":3,"head_channels":512,"head_kernel":3,"level":1.0,"signals":["dot"],"stage":-2,"target_channels":64},{"barrier_kernel":3,"head_channels":512,"head_kernel":3,"level":1.0,"signals":["dot"],"stage":-3,"target_channels":64}],"init_backbone":"default","init_barrier":"default","inputs":"batch","lr":1.2,"macs_ref":220.1,"momentum":0.9,"resize":"nearest","size":8,"steps":10,"target_seed":0,"weight_decay":4e-05}');
CREATE TABLE eproxy_dps_history (
    run_name TEXT NOT NULL,
    step INTEGER NOT NULL,
    config_key TEXT NOT NULL,
    parent_key TEXT,
    genotype TEXT NOT NULL,
    fitness REAL,
    seconds REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_name, step)
);
INSERT INTO "eproxy_dps_history" VALUES('dps1',0,'d47da5d7f186f464',NULL,'{"g": 1}',0.5,1.0,1.79602367669010186193e+09);
INSERT INTO "eproxy_dps_history" VALUES('dps1',1,'k2','d47da5d7f186f464','{"g": 2}',0.75,1.0,1.79602367669020366669e+09);
CREATE TABLE eproxy_dps_runs (
    run_name TEXT PRIMARY KEY,
    space TEXT NOT NULL,
    settings TEXT NOT NULL,
    labelled TEXT NOT NULL,
    best_key TEXT,
    best_fitness REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
INSERT INTO "eproxy_dps_runs" VALUES('dps1','nb201','{"population": 4}','[["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|", 94.37], ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 10.0]]','k2',0.75,1.79602367669004344937e+09,1.79602367669023084643e+09);
CREATE TABLE eproxy_scores (
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    config_key TEXT NOT NULL,
    seed INTEGER NOT NULL,
    batch_hash TEXT NOT NULL,
    device TEXT NOT NULL,
    value REAL,
    score REAL,
    loss REAL,
    macs REAL,
    seconds REAL,
    status TEXT NOT NULL,
    error TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (space, arch_key, config_key, seed, batch_hash, device)
);
INSERT INTO "eproxy_scores" VALUES('nb201','|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|','d47da5d7f186f464',0,'hsyn','cpu',-0.25,0.25,0.25,1000000.0,0.7,'ok',NULL,1.79602367668989777562e+09);
CREATE TABLE eznas_fitness_defs (
    fitness_key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL
);
INSERT INTO "eznas_fitness_defs" VALUES('fk','{"tasks": [1]}',1.79602367670319676396e+09);
CREATE TABLE eznas_generations (
    run_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    population TEXT NOT NULL,
    rng_state TEXT NOT NULL,
    best_program TEXT,
    best_fitness REAL,
    n_evaluated INTEGER NOT NULL,
    seconds REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, generation)
);
INSERT INTO "eznas_generations" VALUES('gp1',0,'["sigmoid(x)", "log(x)"]','[3, [1, 2, 3], null]','sigmoid(x)',0.6,2,0.5,1.7960236767033822536e+09);
CREATE TABLE eznas_programs (
    fitness_key TEXT NOT NULL,
    program TEXT NOT NULL,
    fitness REAL,
    per_task TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'invalid')),
    size INTEGER,
    height INTEGER,
    seconds REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (fitness_key, program)
);
INSERT INTO "eznas_programs" VALUES('fk','sigmoid(x)',0.6,'[0.6, null]','ok',2,2,0.1,1.79602367670326757429e+09);
INSERT INTO "eznas_programs" VALUES('fk','log(x)',NULL,'[null]','invalid',2,2,0.1,1.79602367670327162747e+09);
CREATE TABLE eznas_runs (
    run_id TEXT PRIMARY KEY,
    fitness_key TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at REAL NOT NULL
);
INSERT INTO "eznas_runs" VALUES('gp1','fk','{"population": 2}',1.79602367670333814622e+09);
CREATE TABLE ground_truth (
    source TEXT NOT NULL,
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (source, space, arch_key, metric)
);
INSERT INTO "ground_truth" VALUES('nb201_csv','nb201','|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|','test_acc',94.37);
CREATE TABLE proxy_configs (
    config_hash TEXT PRIMARY KEY,
    proxy TEXT NOT NULL,
    config TEXT NOT NULL
);
INSERT INTO "proxy_configs" VALUES('cfgnwot','nwot','{"proxy": "nwot"}');
INSERT INTO "proxy_configs" VALUES('cfgsyn','synflow','{"proxy": "synflow"}');
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    command TEXT,
    archrank_version TEXT,
    torch_version TEXT,
    python_version TEXT,
    device TEXT,
    host TEXT,
    extra TEXT
);
INSERT INTO "runs" VALUES(1,1.79602367666696929936e+09,'archrank score --data synthetic','0.1.0','2.13.0+cpu','3.11.7','cpu','vm','{"data": "synthetic", "proxies": ["nwot", "synflow"]}');
INSERT INTO "runs" VALUES(2,1.79602367666741609573e+09,'archrank score --data cifar10','0.1.0','2.13.0+cpu','3.11.7','cpu','vm','{"data": "cifar10", "proxies": ["nwot"]}');
CREATE TABLE scores (
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    proxy TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    batch_hash TEXT NOT NULL,
    device TEXT NOT NULL,
    score REAL,
    seconds REAL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'nan', 'failed')),
    error TEXT,
    run_id INTEGER REFERENCES runs(run_id),
    created_at REAL NOT NULL,
    PRIMARY KEY (space, arch_key, proxy, config_hash, seed, batch_hash, device)
);
INSERT INTO "scores" VALUES('nb201','|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|','nwot','cfgnwot',0,'hsyn','cpu',1.5,0.1,'ok',NULL,1,1.79602367666717100142e+09);
INSERT INTO "scores" VALUES('nb201','|none~0|+|none~0|none~1|+|none~0|none~1|none~2|','nwot','cfgnwot',0,'hsyn','cpu',NULL,0.1,'nan','log undefined',1,1.79602367666717100142e+09);
INSERT INTO "scores" VALUES('nb201','|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|','synflow','cfgsyn',0,'hsyn','cpu',NULL,0.2,'failed','OOM',1,1.79602367666717100142e+09);
INSERT INTO "scores" VALUES('nb201','|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|','nwot','cfgnwot',0,'hcif','cpu',2.5,0.1,'ok',NULL,2,1.79602367666745495796e+09);
CREATE TABLE search_queries (
    run_name TEXT NOT NULL,
    seed INTEGER NOT NULL,
    step INTEGER NOT NULL,
    arch_key TEXT NOT NULL,
    valid REAL NOT NULL,
    test REAL NOT NULL,
    cost_s REAL NOT NULL,
    proxy_s REAL NOT NULL,
    cumulative_cost_s REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_name, seed, step)
);
INSERT INTO "search_queries" VALUES('rea-flops',0,0,'|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|',91.0,94.37,100.0,0.5,100.5,1.79602367670628571515e+09);
INSERT INTO "search_queries" VALUES('rea-flops',0,1,'|none~0|+|none~0|none~1|+|none~0|none~1|none~2|',10.0,10.0,50.0,0.0,150.5,1.79602367670634794237e+09);
CREATE TABLE search_runs (
    run_name TEXT NOT NULL,
    seed INTEGER NOT NULL,
    space TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_name, seed)
);
INSERT INTO "search_runs" VALUES('rea-flops',0,'nb201','rea','{"budget": 2}',1.7960236767062590122e+09,1.79602367670634794237e+09);
CREATE INDEX eznas_programs_by_fitness ON eznas_programs (fitness_key, fitness);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('runs',2);
COMMIT;

# Sourced on the NVIDIA device machine after scripts/gpu_env.sh, to run the ring (examples/ring)
# there: unpacks Debian 12's Open MPI, carried as .deb files in .mpi/ (openmpi-bin,
# openmpi-common, libopenmpi3, libpmix2 and their libraries: bench/RESULTS_H100.md, fifteenth
# session), into /opt/mpi and points Open MPI and PMIx at that prefix. The machine has its own
# PMIx under /usr: without PMIX_INSTALL_PREFIX the carried PMIx loads that one's plugins and
# fails on a missing symbol. Launch with /opt/mpi/usr/bin/orterun (Debian's mpirun is an
# alternatives link that dpkg -x does not create).
mkdir -p /opt/mpi
for f in "$root"/.mpi/*.deb; do dpkg -x "$f" /opt/mpi; done
export OPAL_PREFIX=/opt/mpi/usr PMIX_INSTALL_PREFIX=/opt/mpi/usr
export PMIX_MCA_pcompress_base_silence_warning=1
export PATH=/opt/mpi/usr/bin:$PATH
export LD_LIBRARY_PATH=/opt/mpi/usr/lib/x86_64-linux-gnu:/opt/mpi/usr/lib/x86_64-linux-gnu/openmpi/lib:$LD_LIBRARY_PATH
